/* What the files of src/http1 share: the server struct and the WebSocket hand-over. */
#pragma once

#include "http1/http1.h"

struct net_conn;

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
