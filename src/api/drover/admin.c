/* drover.v1.Admin: Ping, PingStream, Status, Shutdown, Reload, Upgrade (and Events, events.c).
 *
 * PingStream is the one producer here that can outrun a client: with interval 0 it sends while
 * the call is writable and resumes from on_ready, so a client that stops reading stalls only its
 * own stream. With an interval, a tick that finds the queue full sends nothing.
 *
 * Upgrade answers once the new binary's check is over, which the daemon reports through a
 * callback that may come after the client gave up: the call is then gone, and the answer is
 * dropped. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "container/container.h"
#include "api/drover/drover-internal.h"
#include "base/macro.h"
#include "api/msg.h"
#include "api/status.h"
#include "base/log.h"
#include "base/time-util.h"
#include "drover/v1/admin.pb-c.h"
#include "grpc/grpc.h"
#include "net/net.h"
#include "proc/proc.h"
#include "store/store.h"
#include "supervise/supervise.h"
#include "track/track.h"

#define MAX_PAYLOAD (1u << 20)

struct ping_stream {
    uv_timer_t timer;       /* interval ticks; the struct is freed in its close callback */
    struct grpc_call *call; /* NULL once the call is over */
    uint64_t count;         /* pongs to send, 0 = unlimited */
    uint64_t sent;          /* pongs sent so far */
    uint8_t *payload;       /* payload_size bytes sent with each pong */
    uint32_t payload_size;  /* its length */
    uint32_t interval_ms;   /* 0: send whenever the queue has room; else the timer paces */
};

static void ping(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Drover__V1__PingRequest *req = (const Drover__V1__PingRequest *)msg;
    Drover__V1__PingResponse resp = DROVER__V1__PING_RESPONSE__INIT;
    Google__Protobuf__Timestamp now = GOOGLE__PROTOBUF__TIMESTAMP__INIT;

    if (req->payload.len > MAX_PAYLOAD)
        return grpc_call_finish(call, GRPC_INVALID_ARGUMENT,
                                "payload of %zu bytes exceeds the %u-byte limit", req->payload.len,
                                MAX_PAYLOAD);
    api_timestamp(&now, now_ns(CLOCK_REALTIME));
    resp.server_time = &now;
    resp.payload = req->payload;
    grpc_call_reply(call, &resp.base);
}

/* Sends one pong; -ENOBUFS when the client is behind. */
static int pong(struct ping_stream *ps)
{
    Drover__V1__PingResponse resp = DROVER__V1__PING_RESPONSE__INIT;
    Google__Protobuf__Timestamp now = GOOGLE__PROTOBUF__TIMESTAMP__INIT;

    api_timestamp(&now, now_ns(CLOCK_REALTIME));
    resp.server_time = &now;
    resp.sequence = ps->sent + 1;
    resp.payload = (ProtobufCBinaryData){ps->payload_size, ps->payload};
    int r = grpc_call_send(ps->call, &resp.base);
    if (r < 0)
        return r;
    if (++ps->sent == ps->count)
        grpc_call_finish(ps->call, GRPC_OK, NULL);
    return 0;
}

/* Fills the call's queue (interval 0) until it is full or the count is reached; with an
 * interval the timer paces the stream and a drained queue changes nothing. */
static void ping_stream_ready(struct grpc_call *call)
{
    struct ping_stream *ps = grpc_call_get_data(call);

    if (ps->interval_ms)
        return;
    while (!grpc_call_finished(call) && pong(ps) == 0)
        ;
}

static void ping_stream_tick(uv_timer_t *t)
{
    struct ping_stream *ps = t->data;

    if (ps->call && grpc_call_writable(ps->call))
        pong(ps);
}

static void ping_stream_freed(uv_handle_t *h)
{
    struct ping_stream *ps = h->data;
    free(ps->payload);
    free(ps);
}

static void ping_stream_close(struct grpc_call *call)
{
    struct ping_stream *ps = grpc_call_get_data(call);

    if (!ps)
        return;
    ps->call = NULL;
    uv_close((uv_handle_t *)&ps->timer, ping_stream_freed);
}

static void ping_stream(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Drover__V1__PingStreamRequest *req = (const Drover__V1__PingStreamRequest *)msg;
    struct api_host *host = grpc_call_service_data(call);
    struct ping_stream *ps;

    if (req->payload_size > MAX_PAYLOAD)
        return grpc_call_finish(call, GRPC_INVALID_ARGUMENT,
                                "payload_size %u exceeds the %u-byte limit", req->payload_size,
                                MAX_PAYLOAD);
    ps = calloc(1, sizeof *ps);
    if (!ps || !(ps->payload = calloc(1, req->payload_size ? req->payload_size : 1))) {
        free(ps);
        return grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
    }
    for (uint32_t i = 0; i < req->payload_size; i++)
        ps->payload[i] = (uint8_t)('a' + i % 26);
    ps->call = call;
    ps->count = req->count;
    ps->payload_size = req->payload_size;
    ps->interval_ms = req->interval_ms;
    uv_timer_init(host->loop, &ps->timer);
    ps->timer.data = ps;
    grpc_call_set_data(call, ps);

    if (req->interval_ms == 0)
        return ping_stream_ready(call);
    pong(ps);
    if (!grpc_call_finished(call))
        uv_timer_start(&ps->timer, ping_stream_tick, req->interval_ms, req->interval_ms);
}

/* The state on disk: the database's size, the reserve, rows waiting to be written again, the
 * last write that failed (at is filled and pointed to when one has). */
static void status_state(const struct api_host *host, Drover__V1__StatusResponse *resp,
                         Google__Protobuf__Timestamp *at)
{
    struct store_stats st = {.reserve_state = ""};

    if (host->store)
        store_get_stats(host->store, &st);
    resp->db_path = (char *)(host->store ? store_path(host->store) : "");
    resp->db_bytes = st.db_bytes;
    resp->emergency_reserve = (char *)st.reserve_state;
    resp->emergency_reserve_bytes = st.reserve_bytes;
    resp->unsynced_rows = host->services ? (uint32_t)svc_engine_unsynced(host->services) : 0;
    resp->last_write_error = (char *)(st.last_error ? strerror(-st.last_error) : "");
    if (st.last_error) {
        api_timestamp(at, st.last_error_ns);
        resp->last_write_error_at = at;
    }
}

static void status(struct grpc_call *call, const ProtobufCMessage *msg)
{
    struct api_host *host = grpc_call_service_data(call);
    Drover__V1__StatusResponse resp = DROVER__V1__STATUS_RESPONSE__INIT;
    Google__Protobuf__Timestamp started = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    Google__Protobuf__Duration uptime = GOOGLE__PROTOBUF__DURATION__INIT;
    Google__Protobuf__Timestamp error_at = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    struct grpc_server_stats st;
    uint64_t rss = 0;
    (void)msg;

    grpc_server_get_stats(host->grpc, &st);
    (void)proc_rss_bytes(0, &rss);
    uint64_t up = now_ns(CLOCK_MONOTONIC) - host->started_mono_ns;
    api_timestamp(&started, host->started_real_ns);
    uptime.seconds = (int64_t)(up / 1000000000u);
    uptime.nanos = (int32_t)(up % 1000000000u);

    resp.version = (char *)host->version;
    resp.pid = (int32_t)getpid();
    resp.started_at = &started;
    resp.uptime = &uptime;
    resp.socket_path = (char *)host->socket_path;
    resp.state_dir = (char *)host->state_dir;
    resp.config_path = (char *)(host->config_path ? host->config_path : "");
    resp.open_connections = st.open_connections;
    resp.active_calls = st.active_calls;
    resp.grpc_queued_bytes = st.queued_bytes;
    resp.calls_total = st.calls_total;
    resp.rss_bytes = rss;
    resp.tracked_process_count = host->track ? (uint32_t)track_count(host->track) : 0;
    resp.rp_socket_path = (char *)(host->rp_socket_path ? host->rp_socket_path : "");
    status_state(host, &resp, &error_at);
    if (host->containers) {
        const char *path = "", *note = "", *name = ctr_mgr_runtime(host->containers, &path, &note);
        size_t running = 0;
        resp.container_runtime = (char *)(name ? name : "");
        resp.container_runtime_path = (char *)(name ? path : "");
        resp.container_runtime_note = (char *)note;
        resp.containers = (uint32_t)ctr_mgr_count(host->containers, &running);
        resp.containers_running = (uint32_t)running;
    }
    grpc_call_reply(call, &resp.base);
}

static void shutdown_(struct grpc_call *call, const ProtobufCMessage *msg)
{
    struct api_host *host = grpc_call_service_data(call);
    Drover__V1__ShutdownResponse resp = DROVER__V1__SHUTDOWN_RESPONSE__INIT;
    const struct ucred *peer = grpc_call_peer(call);
    (void)msg;

    resp.pid = (int32_t)getpid();
    grpc_call_reply(call, &resp.base);
    const char *who = grpc_call_principal(call);
    if (net_conn_is_unix(grpc_call_conn(call)))
        log_notice("Shutdown requested over gRPC by %s, pid %d", who ? who : "?", (int)peer->pid);
    else
        log_notice("Shutdown requested over gRPC by %s", who ? who : "?");
    /* The reply is queued; a graceful shutdown lets it finish like any call in flight. */
    host->shutdown(host, "Shutdown request");
}

static void reload(struct grpc_call *call, const ProtobufCMessage *msg)
{
    struct api_host *host = grpc_call_service_data(call);
    Drover__V1__ReloadResponse resp = DROVER__V1__RELOAD_RESPONSE__INIT;
    struct svc_apply_counts rc;
    char err[512];
    (void)msg;

    int r = host->reload(host, &rc, err, sizeof err);
    /* A file that cannot be read is INVALID_ARGUMENT whatever the errno; changes that cannot be
     * recorded say so with their own status (a full state disk is RESOURCE_EXHAUSTED). */
    if (r < 0)
        return grpc_call_finish(
            call, r == -ENOSPC || r == -EIO ? api_grpc_status(r) : GRPC_INVALID_ARGUMENT, "%s",
            err);
    resp.config_path = (char *)(host->config_path ? host->config_path : "");
    resp.services_added = rc.added;
    resp.services_changed = rc.changed;
    resp.services_removed = rc.removed;
    resp.services_unchanged = rc.unchanged;
    grpc_call_reply(call, &resp.base);
}

/* An Upgrade call waiting for its answer; it outlives the call if the client leaves first. */
struct upgrade_wait {
    struct grpc_call *call; /* NULL once the call is over */
};

static void upgrade_answered(int r, const char *binary, const char *version, const char *error,
                             void *userdata)
{
    struct upgrade_wait *w = userdata;
    struct grpc_call *call = w->call;
    Drover__V1__UpgradeResponse resp = DROVER__V1__UPGRADE_RESPONSE__INIT;
    Google__Protobuf__Timestamp started = GOOGLE__PROTOBUF__TIMESTAMP__INIT;

    free(w);
    if (!call)
        return;
    grpc_call_set_data(call, NULL);
    if (r < 0)
        return api_finish_errno(call, r, "%s", error);
    struct api_host *host = grpc_call_service_data(call);
    api_timestamp(&started, host->started_real_ns);
    resp.pid = (int32_t)getpid();
    resp.version = (char *)host->version;
    resp.new_version = (char *)version;
    resp.binary = (char *)binary;
    resp.started_at = &started;
    grpc_call_reply(call, &resp.base);
}

static void upgrade(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Drover__V1__UpgradeRequest *req = (const Drover__V1__UpgradeRequest *)msg;
    struct api_host *host = grpc_call_service_data(call);
    struct upgrade_wait *w = calloc(1, sizeof *w);
    const char *who = grpc_call_principal(call);

    if (!w)
        return grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
    w->call = call;
    grpc_call_set_data(call, w);
    log_notice("Upgrade requested over gRPC by %s: '%s'", who ? who : "?",
               req->binary[0] ? req->binary : "the installed droverd");
    host->upgrade(host, req->binary, upgrade_answered, w);
}

static void upgrade_close(struct grpc_call *call)
{
    struct upgrade_wait *w = grpc_call_get_data(call);
    if (w)
        w->call = NULL; /* the answer frees it */
}

static const struct grpc_method methods[] = {
    {"Ping", GRPC_UNARY, &drover__v1__ping_request__descriptor, ping},
    {"Reload", GRPC_UNARY, &drover__v1__reload_request__descriptor, reload},
    {"PingStream", GRPC_SERVER_STREAM, &drover__v1__ping_stream_request__descriptor, ping_stream,
     .on_ready = ping_stream_ready, .on_close = ping_stream_close},
    {"Status", GRPC_UNARY, &drover__v1__status_request__descriptor, status},
    {"Shutdown", GRPC_UNARY, &drover__v1__shutdown_request__descriptor, shutdown_},
    {"Upgrade", GRPC_UNARY, &drover__v1__upgrade_request__descriptor, upgrade,
     .on_close = upgrade_close},
    {"Events", GRPC_SERVER_STREAM, &drover__v1__events_request__descriptor, api_drover_events,
     .on_ready = api_drover_events_ready, .on_close = api_drover_events_close},
};

const struct grpc_service api_drover_admin = {"drover.v1.Admin", methods, ARRAY_SIZE(methods),
                                              &drover__v1__admin__descriptor};
