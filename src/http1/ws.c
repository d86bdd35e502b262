/* WebSocket connections on wslay's event API, after an HTTP/1.1 upgrade.
 *
 * Bytes from the peer are kept in `in` and handed to wslay by its recv callback; what wslay
 * sends is gathered in `out` and written in one piece per pass (wslay writes a frame's header
 * and payload separately, and one write each would be two packets). Messages are delivered
 * whole to the handler, which answers during the call with ws_send. Pings are answered by
 * wslay; a close from the peer is answered and the connection ends once that is written.
 *
 * Back-pressure: once OUT_HIGH bytes wait to be written, the connection is not read until the
 * peer has taken most of them, so a client that sends requests without reading replies costs
 * at most that much. Fairness: a connection has at most TURN_MSGS messages answered per read;
 * what it sent beyond waits for the server's next loop turn, its reading paused meanwhile, so
 * that a client pipelining requests never holds the loop for more. Idle connections (no message for
 * the server's idle timeout) are closed with 1001. Nothing is freed inside a wslay callback: flags
 * are checked once it returns. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wslay/wslay.h>

#include "base/base64.h"
#include "base/buf.h"
#include "base/list.h"
#include "base/ossl.h"
#include "http1/http1-internal.h"
#include "net/net.h"

#define OUT_HIGH  (1u << 20)
#define IN_MAX    (1u << 20) /* unparsed input kept; more waits in the kernel */
#define TURN_MSGS 4          /* messages answered per read or turn */

struct ws_conn {
    struct http_server *srv;     /* owner (counts the connection) */
    struct net_conn *conn;       /* transport, once started */
    wslay_event_context_ptr ctx; /* the protocol */
    const struct ws_handler *h;  /* the face's callbacks */
    void *userdata;              /* their argument */
    struct buf in;               /* received, not yet taken by wslay */
    struct buf out;              /* frames wslay produced in this pass */
    uv_timer_t idle;             /* idle timeout; the struct goes in its close callback */
    bool started;                /* ws_conn_start ran */
    bool closing;                /* the connection is being torn down */
    bool paused;                 /* not reading: too much output waits */
    int depth;                   /* > 0 inside wslay calls: teardown waits */
    unsigned turn_msgs;          /* messages answered since the last read or turn */
    DLIST_LINK(ws_conn) link;    /* in the server's list, once started */
    DLIST_LINK(ws_conn) turn;    /* in the server's ws_turns while messages wait for a turn */
};

static void ws_freed(uv_handle_t *h)
{
    struct ws_conn *ws = h->data;
    struct http_server *s = ws->srv;
    wslay_event_context_free(ws->ctx);
    buf_done(&ws->in);
    buf_done(&ws->out);
    free(ws);
    http_server_conn_gone(s);
}

/* Tears the connection down (flushing what was written), tells the face, frees later. */
static void teardown(struct ws_conn *ws, bool flush)
{
    if (ws->closing)
        return;
    ws->closing = true;
    DLIST_REMOVE(ws, link);
    DLIST_REMOVE(ws, turn);
    if (ws->conn)
        net_conn_close(ws->conn, flush);
    if (ws->h->on_close)
        ws->h->on_close(ws, ws->userdata);
    uv_close((uv_handle_t *)&ws->idle, ws_freed);
}

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *data, size_t len, int flags,
                       void *userdata)
{
    struct ws_conn *ws = userdata;
    (void)flags;
    if (!ws->in.len || ws->turn_msgs >= TURN_MSGS) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < ws->in.len ? len : ws->in.len;
    memcpy(data, buf_head(&ws->in), n);
    buf_consume(&ws->in, n);
    return (ssize_t)n;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *userdata)
{
    struct ws_conn *ws = userdata;
    (void)flags;
    if (buf_append(&ws->out, data, len) < 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_NOMEM);
        return -1;
    }
    return (ssize_t)len;
}

static void on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                   void *userdata)
{
    struct ws_conn *ws = userdata;
    (void)ctx;
    if (ws->closing || (arg->opcode != WSLAY_TEXT_FRAME && arg->opcode != WSLAY_BINARY_FRAME))
        return;
    ws->turn_msgs++;
    if (ws->srv->lim.idle_timeout_ms)
        uv_timer_again(&ws->idle);
    ws->h->on_message(ws, arg->opcode == WSLAY_BINARY_FRAME, arg->msg, arg->msg_length,
                      ws->userdata);
}

static const struct wslay_event_callbacks callbacks = {
    .recv_callback = recv_cb,
    .send_callback = send_cb,
    .on_msg_recv_callback = on_msg,
};

/* Writes what wslay wants written; ends the connection when the protocol is done with it. */
static void pump(struct ws_conn *ws)
{
    if (ws->closing)
        return;
    ws->depth++;
    int r = wslay_event_want_write(ws->ctx) ? wslay_event_send(ws->ctx) : 0;
    ws->depth--;
    if (ws->out.len && net_conn_write_buf(ws->conn, &ws->out) < 0)
        r = -1;
    buf_reset(&ws->out, 65536);
    if (ws->closing)
        return;
    if (r < 0 || (!wslay_event_want_read(ws->ctx) && !wslay_event_want_write(ws->ctx)))
        return teardown(ws, r == 0);
    if (!ws->paused && net_conn_pending(ws->conn) > OUT_HIGH) {
        ws->paused = true;
        net_conn_pause(ws->conn);
    }
}

static void feed(struct ws_conn *ws, const uint8_t *data, size_t len)
{
    if (ws->closing)
        return;
    if (len && buf_append(&ws->in, data, len) < 0)
        return teardown(ws, false);
    ws->depth++;
    int r = wslay_event_recv(ws->ctx);
    ws->depth--;
    if (r < 0)
        return teardown(ws, false);
    pump(ws);
    /* Its share of this turn is spent and more is waiting: the rest on the next turn. */
    if (!ws->closing && ws->in.len && ws->turn_msgs >= TURN_MSGS && !DLIST_LINKED(ws, turn)) {
        net_conn_pause(ws->conn);
        DLIST_PREPEND(&ws->srv->ws_turns, ws, turn);
        http_server_want_turn(ws->srv);
    }
}

void ws_turn(struct http_server *s)
{
    struct ws_conn *list = s->ws_turns;

    s->ws_turns = NULL;
    if (list)
        list->turn.pprev = &list;
    while (list) { /* a teardown in a callback takes its connection off this list */
        struct ws_conn *ws = list;
        DLIST_REMOVE(ws, turn);
        ws->turn_msgs = 0;
        feed(ws, NULL, 0);
        if (!ws->closing && !ws->paused && !DLIST_LINKED(ws, turn))
            net_conn_resume(ws->conn);
    }
}

static void on_read(struct net_conn *conn, const uint8_t *data, size_t len, void *userdata)
{
    struct ws_conn *ws = userdata;
    (void)conn;
    ws->turn_msgs = 0;
    feed(ws, data, len);
}

static void on_end(struct net_conn *conn, int error, void *userdata)
{
    (void)conn;
    (void)error;
    teardown(userdata, false);
}

static void on_drain(struct net_conn *conn, void *userdata)
{
    struct ws_conn *ws = userdata;
    if (ws->paused && net_conn_pending(conn) < OUT_HIGH / 4) {
        ws->paused = false;
        if (!DLIST_LINKED(ws, turn))
            net_conn_resume(conn);
    }
    if (!ws->closing && ws->h->on_drain)
        ws->h->on_drain(ws, ws->userdata);
}

size_t ws_pending(const struct ws_conn *ws)
{
    return ws->conn ? net_conn_pending(ws->conn) + ws->out.len : 0;
}

static const struct net_conn_handler conn_handler = {on_read, on_end, on_drain};

static void on_idle(uv_timer_t *t)
{
    ws_close(t->data, WSLAY_CODE_GOING_AWAY, "idle");
}

struct ws_conn *ws_conn_new(struct http_server *s, const struct ws_handler *h, void *userdata,
                            size_t max_message)
{
    struct ws_conn *ws = calloc(1, sizeof *ws);
    if (!ws)
        return NULL;
    if (wslay_event_context_server_init(&ws->ctx, &callbacks, ws) != 0) {
        free(ws);
        return NULL;
    }
    wslay_event_config_set_max_recv_msg_length(ws->ctx, max_message);
    ws->srv = s;
    ws->h = h;
    ws->userdata = userdata;
    buf_init(&ws->in, IN_MAX + 65536);
    buf_init(&ws->out, 0);
    return ws;
}

void ws_conn_discard(struct ws_conn *ws)
{
    wslay_event_context_free(ws->ctx);
    free(ws);
}

void ws_conn_start(struct ws_conn *ws, struct net_conn *conn, const uint8_t *rest, size_t len)
{
    struct http_server *s = ws->srv;
    ws->conn = conn;
    ws->started = true;
    DLIST_PREPEND(&s->ws, ws, link);
    uv_timer_init(s->loop, &ws->idle);
    ws->idle.data = ws;
    if (s->lim.idle_timeout_ms)
        uv_timer_start(&ws->idle, on_idle, s->lim.idle_timeout_ms, s->lim.idle_timeout_ms);
    net_conn_start(conn, &conn_handler, ws);
    if (ws->h->on_open)
        ws->h->on_open(ws, ws->userdata);
    if (!ws->closing)
        feed(ws, rest, len);
}

int ws_send(struct ws_conn *ws, bool binary, const void *data, size_t len)
{
    if (ws->closing)
        return -EPIPE;
    struct wslay_event_msg m = {binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME, data, len};
    if (wslay_event_queue_msg(ws->ctx, &m) != 0)
        return -EPIPE;
    /* Inside a message callback the pass that delivered it writes; otherwise write now. */
    if (!ws->depth)
        pump(ws);
    return 0;
}

void ws_close(struct ws_conn *ws, uint16_t code, const char *reason)
{
    if (ws->closing)
        return;
    (void)wslay_event_queue_close(ws->ctx, code, (const uint8_t *)reason,
                                  reason ? strlen(reason) : 0);
    /* Nothing more is read: the close reply we wait for is not worth a client's stall. */
    wslay_event_shutdown_read(ws->ctx);
    if (!ws->depth)
        pump(ws);
}

void ws_shutdown_all(struct http_server *s)
{
    for (struct ws_conn *ws = s->ws, *next; ws; ws = next) {
        next = ws->link.next;
        ws_close(ws, WSLAY_CODE_GOING_AWAY, "server shutting down");
    }
}

void ws_close_all(struct http_server *s)
{
    while (s->ws)
        teardown(s->ws, false);
}

/* ---- the handshake (RFC 6455, section 4.2) --------------------------------------------------- */

bool http_header_lists(const char *v, const char *token)
{
    size_t n = strlen(token);
    while (v && *v) {
        v += strspn(v, " \t,");
        size_t k = strcspn(v, ",");
        size_t t = k;
        while (t > 0 && (v[t - 1] == ' ' || v[t - 1] == '\t'))
            t--;
        if (t == n && !strncasecmp(v, token, n))
            return true;
        v += k;
    }
    return false;
}

bool http_request_is_websocket(const struct http_request *r)
{
    return http_header_lists(http_request_header(r, "Upgrade"), "websocket");
}

int ws_accept_value(const char *key, char accept[WS_ACCEPT_SIZE], char *why, size_t why_size)
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char digest[SHA_DIGEST_LENGTH], raw[32];
    char joined[128];

    /* The key is 16 random bytes in base64: 24 characters. */
    if (strlen(key) != 24 || base64_decode(key, 24, raw) != 16) {
        snprintf(why, why_size, "bad Sec-WebSocket-Key\n");
        return -EINVAL;
    }
    /* SHA-1 comes from libcrypto, loaded by the first WebSocket. */
    if (ossl_load_crypto(why, why_size) < 0)
        return -ENOENT;
    snprintf(joined, sizeof joined, "%s%s", key, guid);
    SHA1((const unsigned char *)joined, strlen(joined), digest);
    base64_encode(digest, SHA_DIGEST_LENGTH, accept);
    return 0;
}
