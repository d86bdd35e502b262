/* HTTP/1.1 on http-parser: connections, limits, timeouts, in-order answers.
 *
 * A connection reads into http-parser; the request line and headers are gathered into one
 * bounded buffer (NUL-separated, offsets in a small table), the body into another, and when a
 * request is complete the handler runs and answers, at once or later (reply.c). Pipelined requests
 * are answered in order. Once the answers waiting to be written pass OUT_HIGH, parsing pauses in
 * the middle of the read buffer, the rest is kept (at most one read), and reading stops until the
 * client has taken them: a client that pipelines requests without reading cannot make us build
 * answers without bound. Past OUT_BUDGET for all connections together, every connection that still
 * holds an answer stops too (one that holds none, a client that reads, is always answered), so that
 * a crowd of such clients holds a bounded amount at once; once they are gone the memory goes back
 * to the system.
 *
 * Fairness: a connection gets one request answered per loop turn; the requests it pipelined
 * after it wait for the next turn (the server's idle handle), so a client that sends a thousand
 * requests in one write delays another by one answer, not a thousand.
 *
 * Time limits: a request's head (and body) must arrive within header_timeout_ms of its first
 * byte, however slowly it trickles in, and a kept-alive connection may sit idle for
 * idle_timeout_ms. Either closes that connection only.
 *
 * Closing never happens inside a parser callback: the callback marks the connection, and it is
 * closed once http_parser_execute has returned. */
#include "http1/http1-internal.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/list.h"
#include "base/macro.h"
#include "net/net.h"

#define OUT_HIGH (256u << 10) /* answers queued before the connection stops being read */
#define TURN_MAX 64           /* connections answered from the turn list per loop turn */
#define OUT_BUDGET                                                                                 \
    (16u << 20) /* answers queued on all connections: past it, a connection                        \
                   that holds any stops being read after its current answer */

/* ---- closing ------------------------------------------------------------------------------- */

static void server_maybe_free(struct http_server *s)
{
    if (s->freeing && s->n_conns == 0 && !s->turn_open)
        free(s);
}

static void turn_closed(uv_handle_t *h)
{
    struct http_server *s = h->data;
    s->turn_open = false;
    server_maybe_free(s);
}

void http_server_conn_gone(struct http_server *s)
{
    if (--s->n_conns == 0 && s->freeing) {
        server_maybe_free(s);
        return;
    }
    if (s->n_conns == 0 && s->stopping && s->done) {
        void (*done)(void *) = s->done;
        s->done = NULL;
        done(s->done_data);
    }
}

static void conn_freed(uv_handle_t *h)
{
    struct http_conn *c = h->data;
    struct http_server *s = c->srv;
    bool counted = !c->handed_over;
    buf_done(&c->head);
    buf_done(&c->body);
    buf_done(&c->rest);
    free(c);
    if (counted)
        http_server_conn_gone(s);
}

static void conn_unlink(struct http_conn *c)
{
    c->closing = true;
    DLIST_REMOVE(c, link);
    DLIST_REMOVE(c, turn);
}

static void maybe_trim(struct http_server *s);

void http_conn_close(struct http_conn *c, bool flush)
{
    if (c->closing)
        return;
    conn_unlink(c);
    if (c->deferred) { /* its answer's owner lets go of the request */
        c->deferred = false;
        c->later->gone(c->later_arg);
    }
    if (c->upgrade) {
        ws_conn_discard(c->upgrade);
        c->upgrade = NULL;
    }
    net_conn_close(c->conn, flush);
    uv_close((uv_handle_t *)&c->timer, conn_freed);
    maybe_trim(c->srv);
}

/* The request that asked for a WebSocket is done: the connection, and what followed the
 * request in this read, go to it; this struct goes without closing the connection. */
static void hand_over(struct http_conn *c, const uint8_t *rest, size_t len)
{
    struct ws_conn *ws = c->upgrade;
    c->upgrade = NULL;
    c->handed_over = true;
    conn_unlink(c);
    uv_close((uv_handle_t *)&c->timer, conn_freed);
    ws_conn_start(ws, c->conn, rest, len);
}

static void on_timeout(uv_timer_t *t)
{
    struct http_conn *c = t->data;
    /* A request that never finished gets a 408 on its way out; an idle one just goes. */
    if (c->in_request)
        http_respond(&c->req, 408, NULL, "text/plain", "request timed out\n", 18);
    http_conn_close(c, c->in_request);
}

void http_conn_arm(struct http_conn *c, uint32_t ms)
{
    if (ms)
        uv_timer_start(&c->timer, on_timeout, ms, 0);
    else
        uv_timer_stop(&c->timer);
}

/* ---- parser callbacks --------------------------------------------------------------------- */

static struct http_conn *conn_of(http_parser *p)
{
    return p->data;
}

static int on_message_begin(http_parser *p)
{
    struct http_conn *c = conn_of(p);
    buf_reset(&c->head, 8192);
    c->n_hdrs = 0;
    c->url_len = 0;
    c->path = 0;
    c->last = PART_NONE;
    c->head_bytes = 0;
    c->body_bytes = 0;
    buf_reset(&c->body, 64 * 1024);
    c->in_request = true;
    http_conn_arm(c, c->srv->lim.header_timeout_ms);
    return 0;
}

/* Appends to the head buffer, enforcing max_header_bytes (431). */
static int head_add(struct http_conn *c, const char *at, size_t len)
{
    c->head_bytes += len;
    if (c->head_bytes > c->srv->lim.max_header_bytes || buf_append(&c->head, at, len) < 0) {
        c->error = 431;
        return -1;
    }
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = conn_of(p);
    c->last = PART_URL;
    if (head_add(c, at, len) < 0)
        return -1;
    c->url_len += (uint32_t)len;
    return 0;
}

/* Trailers are not the request's headers (nothing that reads headers may see them, and the
 * head is complete and terminated): counted against the head's limit, not kept. */
static int trailer(struct http_conn *c, size_t len)
{
    c->head_bytes += len;
    if (c->head_bytes > c->srv->lim.max_header_bytes) {
        c->error = 431;
        return -1;
    }
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = conn_of(p);
    if (c->last == PART_TRAILER)
        return trailer(c, len);
    if (c->last != PART_FIELD) {
        /* A new header: the previous part ends with a NUL. */
        if (c->n_hdrs == MAX_HEADERS || head_add(c, "", 1) < 0) {
            c->error = 431;
            return -1;
        }
        c->hdrs[c->n_hdrs++] = (struct hdr){.name = (uint32_t)c->head.len};
        c->last = PART_FIELD;
    }
    c->hdrs[c->n_hdrs - 1].name_len += (uint32_t)len;
    return head_add(c, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = conn_of(p);
    if (c->last == PART_TRAILER)
        return trailer(c, len);
    struct hdr *h = &c->hdrs[c->n_hdrs - 1];
    if (c->last != PART_VALUE) {
        if (head_add(c, "", 1) < 0)
            return -1;
        h->value = (uint32_t)c->head.len;
        c->last = PART_VALUE;
    }
    h->value_len += (uint32_t)len;
    return head_add(c, at, len);
}

static int on_headers_complete(http_parser *p)
{
    struct http_conn *c = conn_of(p);
    if (head_add(c, "", 1) < 0)
        return -1;
    /* The path, a copy of the URL up to its query or fragment, terminated. */
    const char *url = (const char *)buf_head(&c->head);
    size_t n = 0;
    while (url && n < c->url_len && url[n] != '?' && url[n] != '#')
        n++;
    c->path = (uint32_t)c->head.len;
    /* Room first: the copy comes from the same buffer, which may move when it grows. */
    uint8_t *tail;
    if (buf_reserve(&c->head, n + 1, &tail) < 0) {
        c->error = 431;
        return -1;
    }
    memcpy(tail, buf_head(&c->head), n);
    tail[n] = '\0';
    buf_commit(&c->head, n + 1);
    c->last = PART_TRAILER;
    if (p->content_length != ULLONG_MAX && p->content_length > c->srv->lim.max_body_bytes) {
        c->error = 413;
        return -1;
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = conn_of(p);
    c->body_bytes += len;
    if (c->body_bytes > c->srv->lim.max_body_bytes || buf_append(&c->body, at, len) < 0) {
        c->error = 413;
        return -1;
    }
    return 0;
}

/* What all connections hold: answers queued and not yet taken by their clients. */
static size_t held(struct http_server *s)
{
    size_t n = 0;
    for (struct http_conn *c = s->conns; c; c = c->link.next)
        n += net_conn_pending(c->conn);
    return n;
}

/* Whether c must stop taking requests until its client reads. */
static bool must_wait(struct http_conn *c)
{
    size_t mine = net_conn_pending(c->conn);
    if (mine > OUT_HIGH)
        return true;
    if (mine == 0)
        return false;
    size_t all = held(c->srv);
    c->srv->flooded |= all > OUT_BUDGET / 2;
    return all > OUT_BUDGET;
}

/* After a flood, the answers that piled up are freed; glibc keeps the pages unless told. */
static void maybe_trim(struct http_server *s)
{
    if (s->flooded && held(s) < (1u << 20)) {
        s->flooded = false;
        malloc_trim(0);
    }
}

static int on_message_complete(http_parser *p)
{
    struct http_conn *c = conn_of(p);
    struct http_server *s = c->srv;

    c->keep_alive = http_should_keep_alive(p) && !s->stopping;
    c->in_handler = true;
    s->handler(&c->req, s->userdata);
    c->in_handler = false;
    if (c->deferred) { /* answered later, without a time limit; what follows waits for it */
        if (c->in_request)
            http_conn_arm(c, 0);
        http_parser_pause(p, 1);
        return 0;
    }
    if (c->in_request) /* the handler did not answer: a bug, but the client still gets one */
        http_respond(&c->req, 500, NULL, "text/plain", "no answer\n", 10);
    /* Closing, or enough answers queued: stop here; the rest of the input waits for the
     * client (or is dropped with the connection). */
    if (c->close_after || must_wait(c))
        http_parser_pause(p, 1);
    else { /* one answer per turn: what follows in this read waits for the next turn */
        c->yielding = true;
        http_parser_pause(p, 1);
    }
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- reading ------------------------------------------------------------------------------ */

static void on_end(struct net_conn *conn, int error, void *userdata);
static void on_drain(struct net_conn *conn, void *userdata);

static void feed(struct http_conn *c, const uint8_t *data, size_t len);

/* The next turn: each connection waiting gets its next request answered. */
static void on_turn(uv_idle_t *idle)
{
    struct http_server *s = idle->data;
    struct http_conn *list = s->turns;
    s->turns = NULL;
    if (list)
        list->turn.pprev = &list;
    uv_idle_stop(idle);
    unsigned served = 0;
    while (list) { /* DLIST_REMOVE below takes the head off list (through its pprev) */
        struct http_conn *c = list;
        if (served++ >= TURN_MAX) { /* the rest on the next turn: a turn stays short */
            DLIST_REMOVE(c, turn);
            DLIST_PREPEND(&s->turns, c, turn);
            uv_idle_start(idle, on_turn);
            continue;
        }
        DLIST_REMOVE(c, turn);
        struct buf rest = c->rest;
        buf_init(&c->rest, rest.cap);
        feed(c, buf_head(&rest), rest.len);
        buf_done(&rest);
        if (!c->closing && !c->throttled && !DLIST_LINKED(c, turn))
            net_conn_resume(c->conn);
    }
    ws_turn(s);
}

void http_server_want_turn(struct http_server *s)
{
    uv_idle_start(&s->turn, on_turn);
}

/* While an answer is deferred, what the client sends next is kept, not parsed, and the
 * connection goes on being read, so that its end is seen (the answer's owner hears it) even
 * while the answer takes its time; past half the room kept, reading stops (a read is at most
 * 64 KiB: the rest always fits). */
static void keep_for_later(struct http_conn *c, const uint8_t *data, size_t len)
{
    if (len && buf_append(&c->rest, data, len) < 0)
        return http_conn_close(c, false);
    if (c->rest.len >= c->rest.cap / 2)
        net_conn_pause(c->conn);
}

/* Feeds data to the parser; keeps what a pause leaves unparsed. */
static void feed(struct http_conn *c, const uint8_t *data, size_t len)
{
    size_t n = http_parser_execute(&c->parser, &settings, (const char *)data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);

    if (c->closing)
        return;
    if (e == HPE_PAUSED) {
        http_parser_pause(&c->parser, 0);
        if (c->deferred) /* the answer comes later: what followed waits for it */
            return keep_for_later(c, data + n, len - n);
        if (c->close_after)
            return http_conn_close(c, true);
        bool yield = c->yielding;
        c->yielding = false;
        if (yield && c->parser.upgrade) /* the handler switched protocols, or refused to */
            return c->upgrade ? hand_over(c, data + n, len - n) : http_conn_close(c, true);
        if (yield && n == len)
            return; /* nothing followed: read on */
        if (buf_append(&c->rest, data + n, len - n) < 0)
            return http_conn_close(c, false);
        net_conn_pause(c->conn);
        if (!yield) {
            c->throttled = true;
            return;
        }
        struct http_server *s = c->srv;
        DLIST_PREPEND(&s->turns, c, turn);
        uv_idle_start(&s->turn, on_turn);
        return;
    }
    if ((e == HPE_OK || e == HPE_PAUSED) && c->parser.upgrade && c->upgrade)
        return hand_over(c, data + n, len - n);
    if (e != HPE_OK || c->parser.upgrade) {
        /* Upgrades are answered by the handler (on_message_complete ran); a protocol switch
         * the handler did not make leaves nothing else to say on this connection. */
        if (e != HPE_OK) {
            if (!c->error)
                c->error = 400;
            char msg[160];
            int k = snprintf(msg, sizeof msg, "%s\n",
                             c->error == 400 ? http_errno_description(e) : http_reason(c->error));
            c->in_request = true;
            c->keep_alive = false;
            http_respond(&c->req, c->error, NULL, "text/plain", msg, (size_t)k);
        }
        return http_conn_close(c, true);
    }
    if (c->close_after && !c->in_request)
        http_conn_close(c, true);
}

static void on_read(struct net_conn *conn, const uint8_t *data, size_t len, void *userdata)
{
    struct http_conn *c = userdata;
    (void)conn;
    if (c->deferred)
        return keep_for_later(c, data, len);
    feed(c, data, len);
}

static void on_drain(struct net_conn *conn, void *userdata)
{
    struct http_conn *c = userdata;
    maybe_trim(c->srv);
    if (c->deferred && c->later->drain)
        c->later->drain(c->later_arg);
    if (!c->throttled || net_conn_pending(conn) > OUT_HIGH / 2 ||
        (net_conn_pending(conn) > 0 && held(c->srv) > OUT_BUDGET))
        return;
    c->throttled = false;
    struct buf rest = c->rest;
    buf_init(&c->rest, c->rest.cap);
    feed(c, buf_head(&rest), rest.len);
    buf_done(&rest);
    if (!c->closing && !c->throttled)
        net_conn_resume(conn);
}

static void on_end(struct net_conn *conn, int error, void *userdata)
{
    (void)conn;
    (void)error;
    http_conn_close(userdata, false);
}

static const struct net_conn_handler conn_handler = {on_read, on_end, on_drain};

/* ---- the server ---------------------------------------------------------------------------- */

struct http_server *http_server_new(uv_loop_t *loop, const struct http_limits *lim,
                                    http_handler_fn handler, void *userdata)
{
    struct http_server *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    *s = (struct http_server){.loop = loop, .lim = *lim, .handler = handler, .userdata = userdata};
    uv_idle_init(loop, &s->turn);
    s->turn.data = s;
    s->turn_open = true;
    return s;
}

void http_server_accept(struct http_server *s, struct net_conn *conn)
{
    struct http_conn *c;
    if (s->stopping || s->n_conns >= s->lim.max_connections || !(c = calloc(1, sizeof *c))) {
        net_conn_close(conn, false);
        return;
    }
    c->srv = s;
    c->conn = conn;
    c->req.c = c;
    /* Room for the head, a NUL per part and a copy of the path. */
    buf_init(&c->head, 2 * (size_t)s->lim.max_header_bytes + MAX_HEADERS * 2 + 4);
    buf_init(&c->body, s->lim.max_body_bytes);
    buf_init(&c->rest, 256 * 1024);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    uv_timer_init(s->loop, &c->timer);
    c->timer.data = c;
    DLIST_PREPEND(&s->conns, c, link);
    s->n_conns++;
    http_conn_arm(c, s->lim.idle_timeout_ms);
    net_conn_start(conn, &conn_handler, c);
}

void http_server_shutdown(struct http_server *s, void (*done)(void *userdata), void *userdata)
{
    s->stopping = true;
    s->done = done;
    s->done_data = userdata;
    ws_shutdown_all(s);
    for (struct http_conn *c = s->conns, *next; c; c = next) {
        next = c->link.next;
        if (c->in_request)
            c->close_after = true;
        else
            http_conn_close(c, true);
    }
    if (s->n_conns == 0 && s->done) {
        s->done = NULL;
        done(userdata);
    }
}

void http_server_free(struct http_server *s)
{
    if (!s)
        return;
    /* Connections still open are closed; their structs go in their timers' close callbacks,
     * which count them down on the server, so the last one frees it. */
    s->done = NULL;
    s->freeing = true;
    ws_close_all(s);
    while (s->conns)
        http_conn_close(s->conns, false);
    uv_close((uv_handle_t *)&s->turn, turn_closed);
}

void http_server_get_stats(const struct http_server *s, struct http_stats *ret)
{
    *ret = (struct http_stats){.open_connections = s->n_conns, .requests_total = s->requests};
}

/* ---- requests ---------------------------------------------------------------------------- */

/* ---- the WebSocket handshake (RFC 6455, section 4.2) ----------------------------------------- */

int http_upgrade_websocket(struct http_request *r, const struct ws_handler *h, void *userdata,
                           size_t max_message)
{
    struct http_conn *c = r->c;
    const char *key = http_request_header(r, "Sec-WebSocket-Key");
    const char *version = http_request_header(r, "Sec-WebSocket-Version");
    char accept[WS_ACCEPT_SIZE], head[256], why[256];

    if (c->parser.method != HTTP_GET || !http_request_is_websocket(r) ||
        !http_header_lists(http_request_header(r, "Connection"), "upgrade") || !key) {
        http_respond(r, 400, NULL, "text/plain", "not a WebSocket handshake\n", 26);
        return -EINVAL;
    }
    /* http-parser decides whether what follows the request is still HTTP: where it did not take
     * the headers for an upgrade (it misses "Connection: ,Upgrade"), a 101 would be followed by
     * frames parsed as requests, and the prepared WebSocket would never be started. */
    if (!c->parser.upgrade) {
        http_respond(r, 400, NULL, "text/plain", "not a WebSocket handshake (Connection)\n", 39);
        return -EINVAL;
    }
    if (!version || strcmp(version, "13") != 0) {
        http_respond(r, 426, "Sec-WebSocket-Version: 13\r\n", "text/plain",
                     "WebSocket version 13 only\n", 26);
        return -EINVAL;
    }
    int e = ws_accept_value(key, accept, why, sizeof why);
    if (e < 0) {
        http_respond(r, e == -EINVAL ? 400 : 500, NULL, "text/plain", why, strlen(why));
        return e;
    }
    c->upgrade = ws_conn_new(c->srv, h, userdata, max_message);
    if (!c->upgrade) {
        http_respond(r, 503, NULL, "text/plain", "out of memory\n", 14);
        return -ENOMEM;
    }
    int k = snprintf(head, sizeof head,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                     accept);
    struct buf out;
    buf_init(&out, 0);
    int rr = buf_append(&out, head, (size_t)k);
    if (rr == 0)
        rr = net_conn_write_buf(c->conn, &out);
    buf_done(&out);
    c->in_request = false;
    c->srv->requests++;
    if (rr < 0) {
        ws_conn_discard(c->upgrade);
        c->upgrade = NULL;
        c->close_after = true;
        return rr;
    }
    /* http-parser stops after an upgrade request: feed hands the connection over then. */
    return 0;
}
