/* Fuzz target: raw bytes from a client into a server-side HTTP/2 session carrying Stratavore's
 * four services (stratavore.v1 Runner, Project, Session and Daemon) over the real runner core:
 * a reaper, a session manager and a runner manager without a database, on a real libuv loop,
 * over a socketpair. Whatever the bytes, droverd must neither crash, leak nor hang, and
 * everything must come down cleanly.
 *
 * Inputs create projects and runners whose command is any program they name: none of it runs.
 * The target is linked with -Wl,--wrap=sess_spawn, and __wrap_sess_spawn below runs /bin/true
 * in "/" instead, with every other option as asked (PTY or pipes, environment, cgroup slice and
 * limits), so the runners' real lives (spawn, exit, restart, stop) are exercised.
 *
 * Ids are made up: the target is also linked with -Wl,--wrap=rn_uuid, and the ids of runners,
 * their tokens and conversations are numbered in the order the core asks for them, afresh for
 * each input: 00000000-0000-4000-8000-000000000001, ...0002, ... So an input can name what it
 * created (stop, restart, delete the runner it started; send a heartbeat with its token "svr1."
 * and the next id), which random ids would never let it do.
 *
 * Every call is authorized with every scope, as for droverd's owner on its socket; a call that
 * carries an "x-fuzz-scopes" header gets the scope bits it names (a decimal number) instead,
 * so the inputs reach the paths of callers that lack them too. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "api/api.h"
#include "api/stratavore/stratavore.h"
#include "auth/auth.h"
#include "base/time-util.h"
#include "fuzz-core.h"
#define FUZZ_IDS_RUNNERS
#include "fuzz-ids.h"
#include "fuzz-spawn.h"
#include "fuzz.h"
#include "grpc/grpc.h"
#include "metrics/metrics.h"
#include "net/net.h"
#include "proc/proc.h"
#include "runner/runner.h"
#include "session/session.h"

/* ---- the state directory: one per process, emptied after each input ---- */

static char state_dir[] = "/tmp/drover-fuzz-stratavore-XXXXXX";
static bool have_state_dir;

static void empty_state_dir(void)
{
    if (have_state_dir)
        fuzz_empty_dir(state_dir);
}

static void remove_state_dir(void)
{
    empty_state_dir();
    if (have_state_dir)
        rmdir(state_dir);
}

static const char *get_state_dir(void)
{
    if (!have_state_dir && mkdtemp(state_dir)) {
        have_state_dir = true;
        atexit(remove_state_dir);
    }
    return have_state_dir ? state_dir : NULL;
}

/* ---- the host ---- */

/* ---- one input ---- */

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

/* The client is done sending but still reading: the programs the requests started (/bin/true)
 * end, are reaped and answered for (stops and restarts that wait on them), for up to 100 ms. */
static void settle(uv_loop_t *loop, int fd, struct sess_mgr *sessions)
{
    uv_timer_t tick;
    uint64_t end = now_ns(CLOCK_MONOTONIC) + 100000000u;

    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, on_tick, 5, 5);
    while (fuzz_any_live(sessions) && now_ns(CLOCK_MONOTONIC) < end) {
        uv_run(loop, UV_RUN_ONCE);
        fuzz_drain(fd);
    }
    uv_close((uv_handle_t *)&tick, NULL);
    for (int i = 0; i < 4; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        fuzz_drain(fd);
    }
}

struct settle_arg {
    uv_loop_t *loop;
    int fd;
    struct sess_mgr *sessions;
};

static void settle_before_hangup(void *p)
{
    struct settle_arg *x = p;
    settle(x->loop, x->fd, x->sessions);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct grpc_server_limits lim = FUZZ_GRPC_LIMITS;
    struct sess_limits sl = FUZZ_SESS_LIMITS;
    struct grpc_auth_hooks hooks = {.authorize = fuzz_authorize};
    struct proc_reaper *reaper = NULL;
    struct sess_mgr *sessions = NULL;
    struct rn_mgr *runners = NULL;
    struct api_stratavore *sv = NULL;
    struct grpc_server *srv = NULL;
    struct metrics *mx = NULL;
    struct net_conn *conn;
    char err[RN_ERR_MAX];
    uv_loop_t loop;
    int fds[2];

    if (size > 1 << 16)
        return 0;
    /* As in droverd: a peer that hangs up must not kill us mid-write. */
    signal(SIGPIPE, SIG_IGN);
    fuzz_ids_reset();
    uv_loop_init(&loop);
    /* As droverd's start_core and start_runners build them. */
    if (proc_reaper_new(&loop, &reaper) < 0 || sess_mgr_new(&loop, reaper, &sl, &sessions) < 0 ||
        !(srv = grpc_server_new(&loop, &lim)) || !(mx = metrics_new(NULL)))
        goto out;
    struct api_host host = fuzz_host(&loop, srv);
    host.state_dir = get_state_dir();
    host.reaper = reaper;
    host.sessions = sessions;
    host.metrics = mx;
    struct rn_config rc = {.socket_path = "-", .state_dir = host.state_dir};
    grpc_server_set_auth(srv, &hooks);
    if (api_stratavore_register(srv, &host, &sv) < 0 ||
        rn_mgr_new(&loop, reaper, sessions, NULL, &rc, &runners, err, sizeof err) < 0)
        goto out;
    host.runners = runners;
    api_stratavore_bind(sv);
    if (rn_mgr_restore(runners) < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
        goto out;
    if (net_conn_from_fd(&loop, fds[0], &conn) == 0)
        grpc_server_accept(srv, conn, NULL);
    else
        close(fds[0]);
    /* The input in two halves, then time for the programs to end, then the hang-up. */
    fuzz_feed_then(&loop, fds[1], data, size, settle_before_hangup,
                   &(struct settle_arg){&loop, fds[1], sessions});

out:
    /* As droverd comes down: the doors, then the core, then the face. */
    grpc_server_free(srv);
    rn_mgr_free(runners);
    sess_mgr_free(sessions);
    proc_reaper_free(reaper);
    api_stratavore_free(sv);
    metrics_free(mx);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    empty_state_dir();
    return 0;
}
