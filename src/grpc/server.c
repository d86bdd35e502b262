/* The gRPC server: its connections, the service registry and graceful shutdown. One nghttp2
 * session per connection; the calls on it live in call.c and request.c.
 *
 * Data path. Bytes from the peer go to nghttp2_session_mem_recv, whose callbacks (request.c)
 * build and feed the calls; what the calls queue is pulled out with nghttp2_session_mem_send and
 * handed to the socket by conn_flush.
 *
 * Bounds. Output handed to the socket is capped per connection (OUT_HIGH): above it nghttp2 is
 * asked for no more frames and the connection is not read from, so a peer that does not read its
 * answers cannot make us buffer without end. Connections are capped at max_connections.
 *
 * Re-entrancy. Handlers run inside nghttp2 callbacks and may submit responses there. A
 * connection is flushed and closed only from top-level contexts: the end of a read, a write
 * completion, or the server's idle handle, which runs the connections marked dirty by calls made
 * from timers and other events. A closing connection frees its calls itself, since
 * nghttp2_session_del reports no stream closes.
 *
 * Shutdown. GOAWAY goes to every connection; calls in flight get shutdown_timeout_ms to end, then
 * are aborted (UNAVAILABLE) and the connections closed. done runs once no connection is left.
 * A server whose clients will come back (an upgrade in place) first ends its streams at once
 * (grpc_server_end_streams), so that only unary calls have anything left to finish. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/vec.h"
#include "grpc/grpc-internal.h"
#include "net/net.h"

#define OUT_HIGH (256 * 1024) /* bytes queued to a socket before we stop producing and reading */

static void conn_flush(struct gconn *c);
static void conn_close(struct gconn *c);
static void on_idle(uv_idle_t *idle);

void grpc_conn_mark_dirty(struct gconn *c)
{
    struct grpc_server *s = c->srv;

    if (DLIST_LINKED(c, dirty_link) || c->in_recv || c->closing)
        return;
    DLIST_PREPEND(&s->dirty, c, dirty_link);
    uv_idle_start(&s->idle, on_idle);
}

void grpc_call_mark_dirty(struct grpc_call *call)
{
    if (call->conn)
        return grpc_conn_mark_dirty(call->conn);
    if (DLIST_LINKED(call, dirty_link))
        return;
    DLIST_PREPEND(&call->srv->dirty_calls, call, dirty_link);
    uv_idle_start(&call->srv->idle, on_idle);
}

const struct service_entry *grpc_server_find_service(const struct grpc_server *s, const char *name,
                                                     size_t len)
{
    for (size_t i = 0; i < s->n_services; i++)
        if (strlen(s->services[i].svc->name) == len &&
            memcmp(s->services[i].svc->name, name, len) == 0)
            return &s->services[i];
    return NULL;
}

/* ---- connections --------------------------------------------------------------------------- */

static void conn_on_read(struct net_conn *nc, const uint8_t *data, size_t len, void *userdata)
{
    struct gconn *c = userdata;
    (void)nc;

    grpc_alive_heard(c);
    c->in_recv = true;
    ssize_t r = nghttp2_session_mem_recv(c->h2, data, len);
    c->in_recv = false;
    if (r < 0) {
        log_debug("grpc: closing a connection: %s", nghttp2_strerror((int)r));
        nghttp2_session_terminate_session(c->h2, NGHTTP2_PROTOCOL_ERROR);
    }
    conn_flush(c);
}

static void conn_on_end(struct net_conn *nc, int error, void *userdata)
{
    (void)nc;
    if (error < 0)
        log_debug_errno(error, "grpc: connection failed");
    conn_close(userdata);
}

static void conn_on_drain(struct net_conn *nc, void *userdata)
{
    (void)nc;
    conn_flush(userdata);
}

static const struct net_conn_handler conn_handler = {
    .on_read = conn_on_read,
    .on_end = conn_on_end,
    .on_drain = conn_on_drain,
};

static void run_ready(struct gconn *c)
{
    for (struct grpc_call *call = c->calls, *next; call && c->n_ready; call = next) {
        next = call->link.next;
        if (!call->ready_pending)
            continue;
        call->ready_pending = false;
        c->n_ready--;
        if (call->handler_live && !call->finished)
            call->method->on_ready(call);
    }
}

static void conn_flush(struct gconn *c)
{
    struct grpc_server *s = c->srv;

    for (int round = 0; round < 8; round++) {
        while (net_conn_pending(c->nc) + c->out.len < OUT_HIGH) {
            const uint8_t *data;
            ssize_t n = nghttp2_session_mem_send(c->h2, &data);
            if (n < 0 || (n > 0 && buf_append(&c->out, data, (size_t)n) < 0))
                return conn_close(c);
            if (n == 0)
                break;
        }
        if (c->out.len > 0 && net_conn_write_buf(c->nc, &c->out) < 0)
            return conn_close(c);
        if (c->n_ready == 0)
            break;
        run_ready(c);
    }
    if (c->n_ready)
        grpc_conn_mark_dirty(c);

    if (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2))
        return conn_close(c);
    if (s->shutting_down && c->n_calls == 0 && net_conn_pending(c->nc) == 0)
        return conn_close(c);
    /* A peer that does not read its answers stops being read from. */
    if (net_conn_pending(c->nc) >= OUT_HIGH)
        net_conn_pause(c->nc);
    else
        net_conn_resume(c->nc);
}

void grpc_server_maybe_done(struct grpc_server *s)
{
    if (s->shutting_down && !s->conns && !s->carried && s->done) {
        void (*done)(void *) = s->done;
        s->done = NULL;
        uv_timer_stop(&s->shutdown_timer);
        done(s->done_userdata);
    }
}

void grpc_conn_close(struct gconn *c)
{
    conn_close(c);
}

static void conn_close(struct gconn *c)
{
    struct grpc_server *s = c->srv;

    if (c->closing)
        return;
    /* Freeing a call can make a handler answer another call of this connection (an agent's
     * stream going ends what it owed as timeouts): that must not put it back on the dirty
     * list it is leaving. */
    c->closing = true;
    DLIST_REMOVE(c, dirty_link);
    DLIST_REMOVE(c, link);
    s->stats.open_connections--;

    /* nghttp2_session_del does not report stream closes: end the calls ourselves. */
    while (c->calls)
        grpc_call_free(c->calls);
    nghttp2_session_del(c->h2);
    net_conn_close(c->nc, !s->shutting_down && net_conn_pending(c->nc) > 0);
    buf_done(&c->out);
    free(c);
    grpc_server_maybe_done(s);
}

static void on_idle(uv_idle_t *idle)
{
    struct grpc_server *s = idle->data;

    uv_idle_stop(idle);
    while (s->dirty) {
        struct gconn *c = s->dirty;
        DLIST_REMOVE(c, dirty_link);
        conn_flush(c);
    }
    grpc_carried_flush(s);
    if (s->dirty || s->dirty_calls)
        uv_idle_start(idle, on_idle);
}

/* Makes c's HTTP/2 session and queues our SETTINGS. Windows are consumed by hand (request.c)
 * rather than by nghttp2's automatic WINDOW_UPDATE, so that what a peer sends stays bounded. */
static int session_new(struct gconn *c)
{
    const struct grpc_server_limits *lim = &c->srv->lim;
    nghttp2_session_callbacks *cbs = NULL;
    nghttp2_option *opt = NULL;
    int r = -ENOMEM;

    if (nghttp2_session_callbacks_new(&cbs) != 0 || nghttp2_option_new(&opt) != 0)
        goto out;
    grpc_request_set_callbacks(cbs);
    nghttp2_option_set_no_auto_window_update(opt, 1);
    /* Closed streams are kept only for HTTP/2 priorities, which gRPC does not use: without
     * this, each connection holds its last 128 calls (~30 kB; 28 MB over 950 connections). */
    nghttp2_option_set_no_closed_streams(opt, 1);
    /* Header values with leading or trailing blanks ("Bearer " with no token) reach the
     * handler, which answers them (grpc-go servers do); the rest of RFC 9113 is checked. */
    nghttp2_option_set_no_rfc9113_leading_and_trailing_ws_validation(opt, 1);
    nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
    if (nghttp2_session_server_new2(&c->h2, cbs, c, opt) == 0)
        r = 0;
out:
    nghttp2_session_callbacks_del(cbs);
    nghttp2_option_del(opt);
    if (r < 0)
        return r;

    /* A stream may hold one whole message unconsumed; the connection about two. */
    uint32_t stream_window = lim->max_message_size + GRPC_FRAME_HEADER;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, lim->max_concurrent_streams},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, lim->max_header_list_size},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, MIN(stream_window, (uint32_t)INT32_MAX)},
    };
    nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, ARRAY_SIZE(iv));
    nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0,
                                          (int32_t)MIN(2u * stream_window, (uint32_t)INT32_MAX));
    return 0;
}

void grpc_server_accept(struct grpc_server *s, struct net_conn *nc, void *door)
{
    grpc_server_accept_lane(s, nc, door, false);
}

void grpc_server_accept_lane(struct grpc_server *s, struct net_conn *nc, void *door, bool admin)
{
    struct gconn *c;
    uint32_t limit = s->lim.max_connections + (admin ? GRPC_ADMIN_LANE : 0);

    if (s->shutting_down || s->stats.open_connections >= limit) {
        log_warning_ratelimited("grpc: refusing a connection: %s",
                                s->shutting_down ? "shutting down"
                                : admin          ? "connection limit reached, admin lane full too"
                                                 : "connection limit reached");
        net_conn_close(nc, false);
        return;
    }
    c = calloc(1, sizeof *c);
    if (!c)
        goto fail;
    c->srv = s;
    c->nc = nc;
    c->door = door;
    buf_init(&c->out, 0);
    if (session_new(c) < 0)
        goto fail;

    DLIST_PREPEND(&s->conns, c, link);
    s->stats.open_connections++;
    grpc_alive_accepted(s, c);
    net_conn_start(nc, &conn_handler, c);
    conn_flush(c);
    return;

fail:
    log_warning_ratelimited("grpc: refusing a connection: out of memory");
    free(c);
    net_conn_close(nc, false);
}

/* ---- server -------------------------------------------------------------------------------- */

struct grpc_server *grpc_server_new(uv_loop_t *loop, const struct grpc_server_limits *limits)
{
    struct grpc_server *s = calloc(1, sizeof *s);

    if (!s)
        return NULL;
    s->loop = loop;
    s->lim = *limits;
    uv_idle_init(loop, &s->idle);
    s->idle.data = s;
    uv_timer_init(loop, &s->shutdown_timer);
    s->shutdown_timer.data = s;
    uv_timer_init(loop, &s->alive_timer);
    s->alive_timer.data = s;
    /* It watches connections: it never keeps the loop alive without them (after the last one
     * closed it may still be armed for that one's deadline). */
    uv_unref((uv_handle_t *)&s->alive_timer);
    s->handles_open = 3;
    return s;
}

void grpc_server_set_auth(struct grpc_server *s, const struct grpc_auth_hooks *h)
{
    s->auth = *h;
}

int grpc_server_add_service(struct grpc_server *s, const struct grpc_service *svc, void *userdata)
{
    if (VEC_RESERVE(s->services, s->cap_services, s->n_services + 1) < 0)
        return -ENOMEM;
    s->services[s->n_services++] = (struct service_entry){svc, userdata};
    return 0;
}

const char *grpc_server_service_name(const struct grpc_server *s, size_t i)
{
    return i < s->n_services ? s->services[i].svc->name : NULL;
}

const struct grpc_service *grpc_server_service_at(const struct grpc_server *s, size_t i)
{
    return i < s->n_services ? s->services[i].svc : NULL;
}

bool grpc_server_has_service(const struct grpc_server *s, const char *name)
{
    return grpc_server_find_service(s, name, strlen(name)) != NULL;
}

void grpc_server_get_stats(const struct grpc_server *s, struct grpc_server_stats *ret)
{
    *ret = s->stats;
    ret->queued_bytes = s->queued;
}

static void on_shutdown_timeout(uv_timer_t *t)
{
    struct grpc_server *s = t->data;

    log_warning("grpc: shutdown timeout: cancelling %u call(s) still in flight",
                s->stats.active_calls);
    for (struct gconn *c = s->conns; c; c = c->link.next)
        for (struct grpc_call *call = c->calls; call; call = call->link.next)
            grpc_call_abort(call, GRPC_UNAVAILABLE, "droverd is shutting down");
    grpc_carried_end_all(s, GRPC_UNAVAILABLE, "droverd is shutting down");
    /* One last chance for the statuses to reach the peers, then close whatever is left. */
    while (s->conns) {
        struct gconn *c = s->conns;
        conn_flush(c);
        if (s->conns == c)
            conn_close(c);
    }
}

unsigned grpc_server_end_streams(struct grpc_server *s, enum grpc_status_code code, const char *msg)
{
    unsigned n = 0;

    /* Aborting runs on_close, which never frees a call or a connection: the lists hold. */
    for (struct gconn *c = s->conns; c; c = c->link.next)
        for (struct grpc_call *call = c->calls; call; call = call->link.next) {
            if (!call->started || call->finished ||
                (call->method->kind != GRPC_SERVER_STREAM && call->method->kind != GRPC_BIDI))
                continue;
            grpc_call_abort(call, code, "%s", msg);
            n++;
        }
    for (struct grpc_call *call = s->carried; call; call = call->link.next)
        if (call->started && !call->finished &&
            (call->method->kind == GRPC_SERVER_STREAM || call->method->kind == GRPC_BIDI)) {
            grpc_call_abort(call, code, "%s", msg);
            grpc_call_mark_dirty(call);
            n++;
        }
    return n;
}

void grpc_server_shutdown(struct grpc_server *s, void (*done)(void *userdata), void *userdata)
{
    if (s->shutting_down)
        return;
    s->shutting_down = true;
    s->done = done;
    s->done_userdata = userdata;
    for (struct gconn *c = s->conns; c; c = c->link.next) {
        nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE,
                              nghttp2_session_get_last_proc_stream_id(c->h2), NGHTTP2_NO_ERROR,
                              NULL, 0);
        grpc_conn_mark_dirty(c);
    }
    uv_timer_start(&s->shutdown_timer, on_shutdown_timeout, s->lim.shutdown_timeout_ms, 0);
    grpc_server_maybe_done(s);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct grpc_server *s = h->data;

    if (--s->handles_open == 0) {
        free(s->services);
        free(s);
    }
}

void grpc_server_free(struct grpc_server *s)
{
    if (!s)
        return;
    s->done = NULL;
    grpc_carried_end_all(s, GRPC_UNAVAILABLE, "droverd is shutting down");
    while (s->conns)
        conn_close(s->conns);
    uv_close((uv_handle_t *)&s->idle, on_handle_closed);
    uv_close((uv_handle_t *)&s->shutdown_timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->alive_timer, on_handle_closed);
}
