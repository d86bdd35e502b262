/* Fuzz target: raw bytes from a client into the running-process door, over a socketpair on a
 * real libuv loop, with a real registry (SQLite in memory) behind it. Whatever the bytes, the
 * door must neither crash nor leak, answer in order, and come down cleanly.
 *
 * Requests that would act on the machine are defused before they reach the door: SPAWN_DAEMON
 * and SERVICE_START/RESTART/RESURRECT would run the input as commands, KILL_TREE would SIGKILL
 * real pids, SHUTDOWN would stop the harness, SERVICE_SAVE would write a file; KILL_ZOMBIES is
 * forced to a dry run. Every whole frame is looked at, whatever came before it. The service engine
 * behind the door has no services, and no reaper; there is no session manager, so the session
 * requests answer NOT_FOUND or UNAVAILABLE. Frames are re-encoded only when they decode; everything
 * else goes through byte for byte. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "api/api.h"
#include "api/authz.h"
#include "api/rp/rp.h"
#include "fuzz-core.h"
#include "fuzz.h"
#include "net/lenframe.h"
#include "net/net.h"
#include "proc/proc.h"
#include "running_process/daemon/v1/daemon.pb-c.h"
#include "store/store.h"
#include "supervise/supervise.h"
#include "track/track.h"

/* An empty directory for the service engine's logs. */
static char logs[] = "/tmp/drover-fuzz-XXXXXX";

static void drain(int fd)
{
    char buf[65536];
    while (read(fd, buf, sizeof buf) > 0)
        ;
}

#define TYPE(name) RUNNING_PROCESS__DAEMON__V1__REQUEST_TYPE__REQUEST_TYPE_##name

/* Copies the input to out, defusing dangerous requests in the frames that decode. A whole frame
 * that does not decode goes through as it is (the door answers it and reads on), and so does
 * what follows the last whole frame (the door waits for the rest, which never comes). */
static void defuse(const uint8_t *data, size_t size, struct buf *out)
{
    uint32_t n;
    while (size > 0 && lenframe_next(data, size, 1u << 20, &n) == 1) {
        RunningProcess__Daemon__V1__DaemonRequest *req =
            running_process__daemon__v1__daemon_request__unpack(NULL, n, data + 4);
        if (!req) {
            buf_append(out, data, 4 + n);
        } else {
            switch ((int)req->type) {
            case TYPE(SPAWN_DAEMON):
            case TYPE(KILL_TREE):
            case TYPE(SHUTDOWN):
            case TYPE(SERVICE_START):
            case TYPE(SERVICE_RESTART):
            case TYPE(SERVICE_SAVE):
            case TYPE(SERVICE_RESURRECT):
                req->type = TYPE(PING);
                break;
            default:
                break;
            }
            if (req->kill_zombies)
                req->kill_zombies->dry_run = 1;
            (void)lenframe_append_message(out, &req->base);
            running_process__daemon__v1__daemon_request__free_unpacked(req, NULL);
        }
        data += 4 + n;
        size -= 4 + n;
    }
    buf_append(out, data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rp_limits lim = {8, 1000};
    struct store *st;
    struct track *tr;
    uv_loop_t loop;
    struct buf in;
    int sv[2];

    if (size > 1 << 16 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return 0;
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop);
    if (store_open(":memory:", 0, &st) < 0)
        abort();
    if (track_new(&loop, st, 0, &tr) < 0)
        abort();
    struct svc_engine *services;
    if (svc_engine_new(&loop, NULL, fuzz_temp_dir(logs), NULL, NULL, &services) < 0)
        abort();
    struct api_host host = fuzz_host(&loop, NULL);
    host.store = st;
    host.track = tr;
    host.services = services;
    /* The peer is this process (a socketpair), so its own uid gets every scope. */
    struct authz_opts ao = {.own_uid = geteuid(), .read_group = (gid_t)-1};
    char err[256];
    if (authz_new(&ao, NULL, &host.authz, err, sizeof err) < 0)
        abort();
    struct rp_server *srv = api_rp_new(&host, &lim);
    struct net_conn *conn;
    if (net_conn_from_fd(&loop, sv[0], &conn) == 0)
        api_rp_accept(srv, conn);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);

    buf_init(&in, 0);
    defuse(data, size, &in);
    const uint8_t *bytes = in.len ? buf_head(&in) : (const uint8_t *)"";
    size_t half = in.len / 2;
    if (write(sv[1], bytes, half) < 0) {
    }
    for (int i = 0; i < 4; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        drain(sv[1]);
    }
    if (write(sv[1], bytes + half, in.len - half) < 0) {
    }
    for (int i = 0; i < 8; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        drain(sv[1]);
    }
    close(sv[1]);
    uv_run(&loop, UV_RUN_NOWAIT);
    buf_done(&in);

    api_rp_free(srv);
    authz_free(host.authz);
    svc_engine_free(services);
    track_free(tr);
    uv_run(&loop, UV_RUN_DEFAULT);
    store_close(st);
    uv_loop_close(&loop);
    return 0;
}
