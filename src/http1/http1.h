/* The HTTP/1.1 door's server: requests parsed by http-parser on connections from any listener,
 * answered by one handler.
 *
 * Every size and time a client controls is capped: header bytes, body bytes, connections, the
 * time to send a whole request head (a client trickling headers, slowloris-style, is dropped
 * without slowing anyone else), and idle keep-alive time. Requests on one connection are
 * answered in order; a client that does not read its answers stops being read from.
 *
 * The handler answers during its call with http_respond, or defers: it keeps the request and
 * answers later, at once (http_respond) or as a stream of chunks (http_stream_*); meanwhile the
 * connection reads no further request. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct http_server;
struct http_request;
struct net_conn;

struct http_limits {
    uint32_t max_connections;   /* further connections are closed at accept */
    uint32_t max_header_bytes;  /* request line and headers */
    uint32_t max_body_bytes;    /* request body */
    uint32_t header_timeout_ms; /* from a request's first byte to the end of its head */
    uint32_t idle_timeout_ms;   /* a keep-alive connection with no request */
};

struct http_stats {
    uint32_t open_connections; /* connections now */
    uint64_t requests_total;   /* requests answered, errors included */
};

typedef void (*http_handler_fn)(struct http_request *req, void *userdata);

struct http_server *http_server_new(uv_loop_t *loop, const struct http_limits *lim,
                                    http_handler_fn handler, void *userdata);
void http_server_accept(struct http_server *s, struct net_conn *conn);
/* Closes idle connections now and the others once their answer is written; done runs when no
 * connection is left. */
void http_server_shutdown(struct http_server *s, void (*done)(void *userdata), void *userdata);
void http_server_free(struct http_server *s);
void http_server_get_stats(const struct http_server *s, struct http_stats *ret);

/* The connection a request came on (who the peer is). */
struct net_conn *http_request_conn(const struct http_request *r);
/* "GET", "POST"... */
const char *http_request_method(const struct http_request *r);
/* The path without the query ("/metrics"), percent-escapes left as they are. */
const char *http_request_path(const struct http_request *r);
/* The request target's length, path and query: no query value decodes longer. */
size_t http_request_target_len(const struct http_request *r);
/* A query parameter's value (percent-decoded), or NULL when absent. */
const char *http_request_query(const struct http_request *r, const char *name, char *buf,
                               size_t size);
/* A header's value by case-insensitive name (the first if repeated), or NULL. */
const char *http_request_header(const struct http_request *r, const char *name);
/* The i-th header in the order sent: false past the last. The name is not NUL-terminated
 * (its length is given); the value is. */
bool http_request_header_at(const struct http_request *r, size_t i, const char **ret_name,
                            size_t *ret_name_len, const char **ret_value);
/* Whether the client accepts a gzip body (Accept-Encoding lists gzip without q=0). */
bool http_request_accepts_gzip(const struct http_request *r);
/* The request's body (max_body_bytes at most; a larger one was answered 413 already), valid
 * until the answer ends. */
const void *http_request_body(const struct http_request *r, size_t *ret_len);

/* Answers with status, extra header lines (each ending in \r\n, or NULL), a content type and a
 * body. A HEAD request gets the headers only. */
void http_respond(struct http_request *r, int status, const char *headers, const char *type,
                  const void *body, size_t len);

/* ---- answers that come later ---------------------------------------------------------------- */

/* What the owner of a deferred answer hears. */
struct http_later {
    /* The connection is gone before the answer ended: r must not be used any more. */
    void (*gone)(void *arg);
    /* What was queued on the connection has been written (optional): stream more. */
    void (*drain)(void *arg);
};

/* The handler keeps r and answers after it returns: with http_respond, or with
 * http_stream_begin, writes and http_stream_end. Until then the connection reads no further
 * request and has no time limit. */
void http_defer(struct http_request *r, const struct http_later *later, void *arg);
/* Begins a streamed answer: the head now, the body in chunks (Transfer-Encoding: chunked; an
 * HTTP/1.0 client gets it unframed, then the connection closes). -EPIPE when the connection is
 * going. */
int http_stream_begin(struct http_request *r, int status, const char *headers, const char *type);
/* One chunk (not empty). -EPIPE when the connection is going. */
int http_stream_write(struct http_request *r, const void *data, size_t len);
/* Bytes queued on r's connection and not yet written (pace a stream by it and drain). */
size_t http_request_pending(const struct http_request *r);
/* Ends the streamed answer; the connection goes on to the next request. */
void http_stream_end(struct http_request *r);

/* ---- WebSocket (ws.c, on wslay) ----------------------------------------------------------- */

struct ws_conn;

struct ws_handler {
    /* A whole text or binary message (fragments joined); valid only during the call. */
    void (*on_message)(struct ws_conn *ws, bool binary, const uint8_t *data, size_t len,
                       void *userdata);
    /* The connection is gone; no callback follows and ws must not be used any more. */
    void (*on_close)(struct ws_conn *ws, void *userdata);
    /* Optional: the WebSocket is open (after the 101): ws may send from now on. */
    void (*on_open)(struct ws_conn *ws, void *userdata);
    /* Optional: what was queued went out (ws_pending fell): send more. */
    void (*on_drain)(struct ws_conn *ws, void *userdata);
};

/* Whether req asks for a WebSocket (GET with Upgrade: websocket). */
bool http_request_is_websocket(const struct http_request *r);
/* Answers req with 101 and turns its connection into a WebSocket once the request is done:
 * messages up to max_message bytes (larger: close 1009). An invalid handshake is answered 400
 * (426 for another protocol version) and returns -EINVAL. */
int http_upgrade_websocket(struct http_request *r, const struct ws_handler *h, void *userdata,
                           size_t max_message);
/* Queues one message. -EPIPE once the connection is closing. */
int ws_send(struct ws_conn *ws, bool binary, const void *data, size_t len);
/* Bytes queued on the connection and not yet written. */
size_t ws_pending(const struct ws_conn *ws);
/* Starts the closing handshake with a status code and reason. */
void ws_close(struct ws_conn *ws, uint16_t code, const char *reason);
