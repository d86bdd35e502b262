/* What the files of src/http1 share: the server and connection structs, and the WebSocket
 * hand-over. */
#pragma once

#include <http_parser.h>

#include "base/buf.h"
#include "base/list.h"
#include "http1/http1.h"

struct net_conn;

#define MAX_HEADERS 64

struct hdr {
    uint32_t name, name_len;   /* offset and length in head */
    uint32_t value, value_len; /* offset and length in head */
};

/* PART_TRAILER: the head is complete; what follows a chunked body is trailers. */
enum part { PART_NONE, PART_URL, PART_FIELD, PART_VALUE, PART_TRAILER };

struct http_request {
    struct http_conn *c; /* the connection it came on */
};

struct http_conn {
    struct http_server *srv;        /* owner */
    struct net_conn *conn;          /* transport */
    http_parser parser;             /* request parser */
    struct buf head;                /* URL and header bytes, NUL-separated */
    struct hdr hdrs[MAX_HEADERS];   /* headers of the request being read */
    size_t n_hdrs;                  /* their number */
    uint32_t url_len;               /* URL bytes at the start of head */
    uint32_t path;                  /* offset in head of the path, NUL-terminated */
    enum part last;                 /* which part the last callback added to */
    size_t head_bytes;              /* bytes of the request's head so far */
    uint64_t body_bytes;            /* bytes of its body so far */
    struct buf body;                /* the body, for handlers that read it (capped) */
    struct buf rest;                /* unparsed input kept while paused for back-pressure */
    struct http_request req;        /* the request being answered */
    struct ws_conn *upgrade;        /* a WebSocket to hand the connection to, once parsed */
    uv_timer_t timer;               /* header or idle timeout; freed in its close callback */
    int error;                      /* status of an error answer to send, 0 if none */
    bool in_request;                /* a request has begun and is not answered */
    bool keep_alive;                /* the current request allows another after it */
    bool close_after;               /* close once the output is written */
    bool closing;                   /* being closed */
    bool throttled;                 /* paused for back-pressure */
    bool handed_over;               /* the connection went to a WebSocket: not ours to count */
    bool in_handler;                /* the handler runs (inside the parser's callback) */
    bool deferred;                  /* the handler answers later (http_defer) */
    bool streaming;                 /* its answer's head went out: chunks follow */
    bool chunked;                   /* ...as chunks (HTTP/1.1); else until the connection closes */
    const struct http_later *later; /* the deferred answer's owner's callbacks */
    void *later_arg;                /* their argument */
    DLIST_LINK(http_conn) link;     /* in the server's list, for shutdown */
    DLIST_LINK(http_conn) turn;     /* in the server's turns: requests left for the next turn */
    bool yielding;                  /* answered one request this turn: the rest waits */
};

struct http_server {
    uv_loop_t *loop;          /* for timers */
    struct http_limits lim;   /* limits */
    http_handler_fn handler;  /* answers requests */
    void *userdata;           /* its argument */
    struct http_conn *conns;  /* open connections */
    uint32_t n_conns;         /* their number */
    uint64_t requests;        /* requests answered */
    bool stopping;            /* shutdown began */
    bool freeing;             /* http_server_free was called: the last connection frees it */
    bool flooded;             /* answers held passed half the budget: trim memory once drained */
    struct http_conn *turns;  /* connections with pipelined requests left for the next turn */
    uv_idle_t turn;           /* runs them: one request each per loop turn */
    bool turn_open;           /* turn not yet closed (http_server_free closes it) */
    struct ws_conn *ws;       /* WebSocket connections (they count in n_conns too) */
    struct ws_conn *ws_turns; /* of them, those with messages left for the next turn */
    void (*done)(void *);     /* shutdown callback */
    void *done_data;          /* its argument */
};

/* Called when a connection (HTTP or WebSocket) is freed: counts down, finishes a shutdown or a
 * free waiting for the last one. */
void http_server_conn_gone(struct http_server *s);

/* server.c: closes a connection (after writing what it holds, with flush); its deferred
 * answer's owner hears it. */
void http_conn_close(struct http_conn *c, bool flush);
/* server.c: arms the header or idle timeout (0: none). */
void http_conn_arm(struct http_conn *c, uint32_t ms);
/* reply.c: the reason phrase of a status. */
const char *http_reason(int status);

/* Runs the server's next loop turn (the HTTP connections and WebSockets waiting for it). */
void http_server_want_turn(struct http_server *s);

/* ws.c: whether a comma-separated header value lists token (case-insensitive). */
bool http_header_lists(const char *v, const char *token);
/* ws.c: the Sec-WebSocket-Accept value for a client's key (RFC 6455, section 4.2.2): -EINVAL if
 * the key is not 16 bytes in base64, -ENOENT if libcrypto cannot be loaded; why says which. */
#define WS_ACCEPT_SIZE 29
int ws_accept_value(const char *key, char accept[WS_ACCEPT_SIZE], char *why, size_t why_size);
/* ws.c: the next turn of each WebSocket that had messages left. */
void ws_turn(struct http_server *s);
/* ws.c: a WebSocket prepared during the upgrade request, started once the request is done. */
struct ws_conn *ws_conn_new(struct http_server *s, const struct ws_handler *h, void *userdata,
                            size_t max_message);
/* Takes over conn (its handler is replaced), with the bytes that followed the upgrade request.
 * The server already counts the connection. */
void ws_conn_start(struct ws_conn *ws, struct net_conn *conn, const uint8_t *rest, size_t len);
/* Frees a WebSocket that was never started (its connection closed before the take-over). */
void ws_conn_discard(struct ws_conn *ws);
/* Shutdown: every WebSocket is told "going away" (1001) and closed once that is written. */
void ws_shutdown_all(struct http_server *s);
/* Server free: every WebSocket is dropped now. */
void ws_close_all(struct http_server *s);
