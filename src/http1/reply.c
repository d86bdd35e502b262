/* Answers: whole at once (http_respond), later (http_defer), or streamed in chunks
 * (http_stream_*). A deferred answer holds its connection's next requests (kept, unparsed,
 * while the connection goes on being read, so that its end is seen) until it ends. */
#include "http1/http1-internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/list.h"
#include "net/net.h"

static void later_done(struct http_conn *c);

const char *http_reason(int status)
{
    switch (status) {
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 304:
        return "Not Modified";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Payload Too Large";
    case 409:
        return "Conflict";
    case 415:
        return "Unsupported Media Type";
    case 426:
        return "Upgrade Required";
    case 429:
        return "Too Many Requests";
    case 499:
        return "Client Closed Request";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Unknown";
    }
}

void http_respond(struct http_request *r, int status, const char *headers, const char *type,
                  const void *body, size_t len)
{
    struct http_conn *c = r->c;
    struct buf out;
    char head[512];

    if (!c->in_request || c->closing)
        return;
    c->in_request = false;
    c->srv->requests++;
    /* An error closes the connection, unless the request was whole and its handler answered
     * later (a call's error is an answer like any other). */
    bool keep = c->keep_alive && !c->close_after && (status < 400 || c->deferred);
    int k = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: %s\r\n",
                     status, http_reason(status), type, len, keep ? "keep-alive" : "close");
    bool head_only = c->parser.method == HTTP_HEAD;
    buf_init(&out, 0);
    if (buf_append(&out, head, (size_t)k) < 0 ||
        (headers && buf_append(&out, headers, strlen(headers)) < 0) ||
        buf_append(&out, "\r\n", 2) < 0 || (!head_only && len && buf_append(&out, body, len) < 0) ||
        net_conn_write_buf(c->conn, &out) < 0)
        keep = false;
    buf_done(&out);
    if (!keep)
        c->close_after = true;
    else
        http_conn_arm(c, c->srv->lim.idle_timeout_ms);
    if (c->deferred)
        later_done(c);
}

/* ---- answers that come later ------------------------------------------------------------- */

/* A deferred answer ended: the connection closes, or goes on with what its client sent
 * meanwhile (on the next turn) and reads again. */
static void later_done(struct http_conn *c)
{
    c->deferred = false;
    c->streaming = false;
    if (c->in_handler)
        return; /* answered before the handler returned: the parser goes on as usual */
    if (c->close_after)
        return http_conn_close(c, true);
    if (c->rest.len) {
        DLIST_PREPEND(&c->srv->turns, c, turn);
        http_server_want_turn(c->srv);
    } else if (!c->throttled) {
        net_conn_resume(c->conn);
    }
}

void http_defer(struct http_request *r, const struct http_later *later, void *arg)
{
    r->c->deferred = true;
    r->c->later = later;
    r->c->later_arg = arg;
}

int http_stream_begin(struct http_request *r, int status, const char *headers, const char *type)
{
    struct http_conn *c = r->c;
    struct buf out;
    char head[512];

    if (!c->in_request || c->closing || c->streaming)
        return -EPIPE;
    /* HTTP/1.0 has no chunks: the body ends when the connection does. */
    c->chunked = c->parser.http_major > 1 || (c->parser.http_major == 1 && c->parser.http_minor);
    bool keep = c->keep_alive && !c->close_after && c->chunked;
    int k =
        snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%sConnection: %s\r\n",
                 status, http_reason(status), type,
                 c->chunked ? "Transfer-Encoding: chunked\r\n" : "", keep ? "keep-alive" : "close");
    buf_init(&out, 0);
    int e = buf_append(&out, head, (size_t)k);
    if (e == 0 && headers)
        e = buf_append(&out, headers, strlen(headers));
    if (e == 0)
        e = buf_append(&out, "\r\n", 2);
    if (e == 0)
        e = net_conn_write_buf(c->conn, &out);
    buf_done(&out);
    if (!keep)
        c->close_after = true;
    c->streaming = true;
    c->srv->requests++;
    return e < 0 ? -EPIPE : 0;
}

int http_stream_write(struct http_request *r, const void *data, size_t len)
{
    struct http_conn *c = r->c;
    struct buf out;
    char size[24];

    if (!c->streaming || c->closing)
        return -EPIPE;
    if (!len)
        return 0;
    buf_init(&out, 0);
    int k = snprintf(size, sizeof size, "%zx\r\n", len);
    int e = c->chunked ? buf_append(&out, size, (size_t)k) : 0;
    if (e == 0)
        e = buf_append(&out, data, len);
    if (e == 0 && c->chunked)
        e = buf_append(&out, "\r\n", 2);
    if (e == 0)
        e = net_conn_write_buf(c->conn, &out);
    buf_done(&out);
    return e < 0 ? -EPIPE : 0;
}

size_t http_request_pending(const struct http_request *r)
{
    return net_conn_pending(r->c->conn);
}

void http_stream_end(struct http_request *r)
{
    struct http_conn *c = r->c;

    if (!c->streaming || c->closing)
        return;
    if (c->chunked) {
        struct buf out;
        buf_init(&out, 0);
        if (buf_append(&out, "0\r\n\r\n", 5) < 0 || net_conn_write_buf(c->conn, &out) < 0)
            c->close_after = true;
        buf_done(&out);
    }
    c->in_request = false;
    if (!c->close_after)
        http_conn_arm(c, c->srv->lim.idle_timeout_ms);
    later_done(c);
}
