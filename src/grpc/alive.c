/* Connections that say nothing, or stop answering, do not keep their slot. One timer for the
 * whole server, armed for the nearest deadline only while connections exist (an idle droverd
 * with no client wakes up for nothing):
 *   - preface: a connection must send the HTTP/2 preface and its SETTINGS within
 *     preface_timeout_ms of its accept, or it is closed;
 *   - idle: a connection with no call and nothing received for idle_timeout_ms gets GOAWAY and
 *     is closed (clients connect again on their next call, as gRPC's MAX_CONNECTION_IDLE);
 *   - keepalive: a connection with calls that has sent nothing for keepalive_ms is sent a
 *     PING; one that sends nothing more within keepalive_timeout_ms more (not even the ACK) is
 *     closed, its calls cancelled: a peer that died without a FIN, or one that stopped reading
 *     so long that droverd stopped reading it.
 * 0 turns each off. Anything received from the peer counts as a sign of life. */
#include <nghttp2/nghttp2.h>

#include "base/log.h"
#include "base/macro.h"
#include "base/time-util.h"
#include "grpc/grpc-internal.h"

static uint64_t deadline_of(const struct gconn *c, const struct grpc_server_limits *l)
{
    uint64_t d = UINT64_MAX;
    if (!c->preface_seen && l->preface_timeout_ms)
        d = MIN(d, c->born_ms + l->preface_timeout_ms);
    if (c->preface_seen && c->n_calls == 0 && l->idle_timeout_ms)
        d = MIN(d, c->last_rx_ms + l->idle_timeout_ms);
    if (c->preface_seen && c->n_calls > 0 && l->keepalive_ms)
        d = MIN(d, c->ping_sent_ms ? c->ping_sent_ms + l->keepalive_timeout_ms
                                   : c->last_rx_ms + l->keepalive_ms);
    return d;
}

static void on_tick(uv_timer_t *t);

static void arm(struct grpc_server *s, uint64_t now)
{
    uint64_t next = UINT64_MAX;
    for (struct gconn *c = s->conns; c; c = c->link.next)
        next = MIN(next, deadline_of(c, &s->lim));
    if (next == UINT64_MAX) {
        uv_timer_stop(&s->alive_timer);
        return;
    }
    uv_timer_start(&s->alive_timer, on_tick, next > now ? MAX(next - now, 10) : 10, 0);
}

static void on_tick(uv_timer_t *t)
{
    struct grpc_server *s = t->data;
    uint64_t now = mono_ms();
    const struct grpc_server_limits *l = &s->lim;

    for (struct gconn *c = s->conns, *next; c; c = next) {
        next = c->link.next;
        if (deadline_of(c, l) > now)
            continue;
        if (!c->preface_seen) {
            log_debug("grpc: closing a connection that sent no HTTP/2 preface in %u ms",
                      l->preface_timeout_ms);
            grpc_conn_close(c);
        } else if (c->n_calls == 0) {
            log_debug("grpc: closing a connection idle for %u ms", l->idle_timeout_ms);
            /* GOAWAY, then the flush closes it: nghttp2 wants nothing more after that. */
            nghttp2_session_terminate_session(c->h2, NGHTTP2_NO_ERROR);
            grpc_conn_mark_dirty(c);
        } else if (c->ping_sent_ms) {
            log_info("grpc: closing a connection with %u calls: no answer to a PING in %u ms",
                     c->n_calls, l->keepalive_timeout_ms);
            grpc_conn_close(c);
        } else {
            c->ping_sent_ms = now;
            nghttp2_submit_ping(c->h2, NGHTTP2_FLAG_NONE, NULL);
            grpc_conn_mark_dirty(c);
        }
    }
    arm(s, now);
}

void grpc_alive_accepted(struct grpc_server *s, struct gconn *c)
{
    c->born_ms = c->last_rx_ms = mono_ms();
    if (!uv_is_active((uv_handle_t *)&s->alive_timer))
        arm(s, c->born_ms);
}

void grpc_alive_heard(struct gconn *c)
{
    c->last_rx_ms = mono_ms();
    c->ping_sent_ms = 0;
}
