/* Fuzz target: raw bytes from a client into a server-side HTTP/2 session carrying baaaht's
 * services (orchestrator.v1, agent.v1 and gateway.v1, and llm.v1 and tool.v1 that refuse) over
 * the real agent hub: conversations, agents, routing, gateway sessions, tasks and tokens, on an
 * in-memory database and an event bus, without containers, on a real libuv loop, over a
 * socketpair. Whatever the bytes, droverd must neither crash, leak nor hang, and everything
 * must come down cleanly.
 *
 * Tasks droverd runs itself run whatever program the input names: none of it runs. The target
 * is linked with -Wl,--wrap=sess_spawn, and __wrap_sess_spawn below runs /bin/true in "/"
 * instead, with every other option as asked (pipes, environment, limits, input), so the tasks'
 * real lives (spawn, output, exit, cancel, timeout) are exercised.
 *
 * Ids are made up: the target is also linked with -Wl,--wrap=ag_new_id, and every id the hub
 * makes is numbered in the order it is asked for, afresh for each input: 32 hex digits,
 * 00000000000000000000000000000001, ...0002, ... So an input can name what it created (send a
 * message into the conversation it opened, bind the agent it registered, answer a routed
 * message by its correlation id, watch the task it started), which random ids would never let
 * it do. --wrap reaches only calls from other object files than the one defining ag_new_id
 * (agents/conv.c); conversations' and messages' ids are made inside it, so the target wraps
 * getrandom too (-Wl,--wrap=getrandom): a request of 16 bytes from droverd's code, which only
 * ag_new_id makes here, gets the next number in the same count, and the real ag_new_id prints
 * it as the same 32 digits. One count: ids come out in the order they are made, whoever makes
 * them (see make-corpus.py's baaaht_seeds).
 *
 * There are no containers (the container RPCs answer UNIMPLEMENTED, tasks with an image fail),
 * so no agent token is ever minted; the database starts with two, as a conversation's
 * containers would have left them: FUZZ_TOKEN_FREE, which no agent has registered with yet, and
 * FUZZ_TOKEN_BOUND, 00000000000000000000000000000001's (an agent when the input's first object is
 * one), so that inputs reach the paths of agents acting as themselves with their own token.
 *
 * Every call is authorized with every scope, as for droverd's owner on its socket; a call that
 * carries an "x-fuzz-scopes" header gets the scope bits it names (a decimal number) instead
 * (0: what an agent's own token gets), so the inputs reach the paths of callers that lack
 * them too. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "agents/agents.h"
#include "api/api.h"
#include "api/baaaht/baaaht.h"
#include "auth/auth.h"
#include "base/time-util.h"
#include "events/events.h"
#include "fuzz-core.h"
#define FUZZ_IDS_AGENTS
#include "fuzz-ids.h"
#include "fuzz-spawn.h"
#include "fuzz.h"
#include "grpc/grpc.h"
#include "net/net.h"
#include "proc/proc.h"
#include "session/session.h"
#include "store/store.h"

/* ---- the database: in memory, one per process, emptied for each input ---- */

static struct store *store;

static void close_store(void)
{
    store_close(store);
    store = NULL;
}

static int exec_sql(const char *sql)
{
    return sqlite3_exec(store_db(store), sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
}

/* The hub's rows gone, and the two tokens a conversation's containers would have left. */
static int fresh_store(void)
{
    if (!store) {
        if (store_open(":memory:", 0, &store) < 0)
            return -EIO;
        atexit(close_store);
    }
    return exec_sql("DELETE FROM agents; DELETE FROM agent_messages;") < 0
               ? -EIO
               : fuzz_agent_tokens(store);
}

/* ---- the host ---- */

/* ---- one input ---- */

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop, reading what the server sends, while until() says so, for up to 100 ms. */
static void run_while(uv_loop_t *loop, int fd, bool (*until)(void *arg), void *arg)
{
    uv_timer_t tick;
    uint64_t end = now_ns(CLOCK_MONOTONIC) + 100000000u;

    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, on_tick, 5, 5);
    while (until(arg) && now_ns(CLOCK_MONOTONIC) < end) {
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
    struct ag_mgr *agents;
    bool stopped;
};

static bool sessions_live(void *p)
{
    return fuzz_any_live(((struct settle_arg *)p)->sessions);
}

static bool not_stopped(void *p)
{
    return !((struct settle_arg *)p)->stopped;
}

static void on_stopped(void *p)
{
    ((struct settle_arg *)p)->stopped = true;
}

/* The client is done sending but still reading: the programs the tasks started (/bin/true)
 * end, are reaped and answered for (StreamTask watchers get their completion), for up to
 * 100 ms; then droverd stops, as its shutdown does: the tasks still running are ended (FAILED
 * "lost") while the connection is still up. */
static void settle_before_hangup(void *p)
{
    struct settle_arg *x = p;

    run_while(x->loop, x->fd, sessions_live, x);
    ag_mgr_shutdown(x->agents, on_stopped, x);
    run_while(x->loop, x->fd, not_stopped, x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct grpc_server_limits lim = FUZZ_GRPC_LIMITS;
    struct sess_limits sl = FUZZ_SESS_LIMITS;
    struct ag_settings as = FUZZ_AGENT_SETTINGS;
    struct grpc_auth_hooks hooks = {.authorize = fuzz_authorize};
    struct proc_reaper *reaper = NULL;
    struct sess_mgr *sessions = NULL;
    struct ev_bus *bus = NULL;
    struct ag_mgr *agents = NULL;
    struct grpc_server *srv = NULL;
    struct net_conn *conn;
    char err[AG_ERR_MAX];
    uv_loop_t loop;
    int fds[2];

    if (size > 1 << 16)
        return 0;
    /* As in droverd: a peer that hangs up must not kill us mid-write. */
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop);
    /* As droverd's start_core and start_agents build them (a small event ring: a subscriber
     * that does not read falls behind within an input). */
    if (fresh_store() < 0 || proc_reaper_new(&loop, &reaper) < 0 ||
        sess_mgr_new(&loop, reaper, &sl, &sessions) < 0 || ev_bus_new(64, &bus) < 0 ||
        ag_mgr_new(&loop, store, bus, &as, &agents, err, sizeof err) < 0 ||
        !(srv = grpc_server_new(&loop, &lim)))
        goto out;
    ag_mgr_use(agents, sessions, NULL);
    if (ag_mgr_restore(agents) < 0)
        goto out;
    struct api_host host = fuzz_host(&loop, srv);
    host.state_dir = "/nonexistent";
    host.store = store;
    host.reaper = reaper;
    host.sessions = sessions;
    host.agents = agents;
    host.bus = bus;
    grpc_server_set_auth(srv, &hooks);
    if (api_baaaht_register(srv, &host) < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
        goto out;
    if (net_conn_from_fd(&loop, fds[0], &conn) == 0)
        grpc_server_accept(srv, conn, NULL);
    else
        close(fds[0]);
    /* The ids of this input's objects from 1. */
    fuzz_ids_reset();
    /* The input in two halves, then time for the programs to end and droverd's stop, then the
     * hang-up. */
    fuzz_feed_then(&loop, fds[1], data, size, settle_before_hangup,
                   &(struct settle_arg){&loop, fds[1], sessions, agents, false});

out:
    /* As droverd comes down: the doors, then the core (the hub before the bus and the
     * sessions it uses). */
    grpc_server_free(srv);
    ag_mgr_free(agents);
    ev_bus_free(bus);
    sess_mgr_free(sessions);
    proc_reaper_free(reaper);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return 0;
}
